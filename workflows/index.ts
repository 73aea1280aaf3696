export { retrainAndUpdate, statusQuery } from './retrain';
