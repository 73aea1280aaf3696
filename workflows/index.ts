export { retrainAndUpdate, statusQuery } from './retrain';
export { runPipeline } from './run-pipeline';
export { recoveryQuery } from './queries';
export { scoringService } from './scoring-service';
