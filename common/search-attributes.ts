import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes the product sets on every run. The dev server registers them at start
 * (`--search-attribute Name=Type`); production namespaces need `temporal operator search-attribute create`.
 */
export const PipelineAttr = defineSearchAttributeKey('Pipeline', SearchAttributeType.KEYWORD);
export const TrainingJobIdAttr = defineSearchAttributeKey('TrainingJobId', SearchAttributeType.KEYWORD);
export const ScoringServiceAttr = defineSearchAttributeKey('ScoringService', SearchAttributeType.KEYWORD_LIST);
export const PhaseAttr = defineSearchAttributeKey('Phase', SearchAttributeType.KEYWORD);

/** Name → Temporal CLI type name, for `--search-attribute` and `temporal operator search-attribute create`. */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword' | 'KeywordList' | 'Text' | 'Int' | 'Datetime' | 'Bool'> = {
  Pipeline: 'Keyword',
  TrainingJobId: 'Keyword',
  ScoringService: 'KeywordList',
  Phase: 'Keyword',
};
