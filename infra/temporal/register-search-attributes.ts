import type { Connection } from '@temporalio/client';
import { isGrpcServiceError } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { SEARCH_ATTRIBUTES } from '../../common/search-attributes';
import type { Log } from './output';

// The product's search attributes (common/search-attributes.ts), registered on a server that lacks them.

/** grpc status ALREADY_EXISTS; @grpc/grpc-js is not a direct dependency, so its enum is not imported. */
const GRPC_ALREADY_EXISTS = 6;

type CliSearchAttributeType = (typeof SEARCH_ATTRIBUTES)[string];

export const SDK_TYPES: Record<CliSearchAttributeType, SearchAttributeType> = {
  Keyword: SearchAttributeType.KEYWORD,
  KeywordList: SearchAttributeType.KEYWORD_LIST,
  Text: SearchAttributeType.TEXT,
  Int: SearchAttributeType.INT,
  Datetime: SearchAttributeType.DATETIME,
  Bool: SearchAttributeType.BOOL,
};

type IndexedValueType = NonNullable<ReturnType<typeof encodeSearchAttributeIndexedValueType>>;

function indexedValueType(type: CliSearchAttributeType): IndexedValueType {
  const encoded = encodeSearchAttributeIndexedValueType(SDK_TYPES[type]);
  if (encoded === undefined) throw new Error(`no IndexedValueType for search attribute type ${type}`);
  return encoded;
}

function describeIndexedValueType(value: IndexedValueType): string {
  const match = (Object.keys(SDK_TYPES) as CliSearchAttributeType[]).find((t) => indexedValueType(t) === value);
  return match ?? `IndexedValueType ${value}`;
}

export class SearchAttributeTypeConflict extends Error {}

/**
 * Register any of the product's search attributes the namespace lacks, then confirm all are listed.
 * Throws when one exists with another type, because workflows would then fail to upsert it.
 * Returns the names still not visible (registration can take a moment to show on non-dev servers).
 */
export async function ensureSearchAttributes(conn: Connection, namespace: string, log: Log): Promise<string[]> {
  const missing: Record<string, IndexedValueType> = {};
  const listed = await conn.operatorService.listSearchAttributes({ namespace });
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
    const want = indexedValueType(type);
    const have = listed.customAttributes?.[name];
    if (have === undefined || have === null) missing[name] = want;
    else if (have !== want) {
      throw new SearchAttributeTypeConflict(
        `search attribute ${name} exists in namespace ${namespace} as ${describeIndexedValueType(have)}, ` +
          `but the product needs ${type}`,
      );
    }
  }
  const names = Object.keys(missing);
  if (names.length === 0) return [];
  log(`registering search attributes in namespace ${namespace}: ${names.join(', ')}`);
  try {
    await conn.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  } catch (err) {
    // A concurrent registration (another test file, another worker) got there first: that is the goal anyway.
    if (
      !(isGrpcServiceError(err) && (err.code as number) === GRPC_ALREADY_EXISTS) &&
      !/already exists/i.test(String(err))
    ) {
      throw err;
    }
  }
  const after = await conn.operatorService.listSearchAttributes({ namespace });
  return names.filter((n) => after.customAttributes?.[n] === undefined || after.customAttributes?.[n] === null);
}
