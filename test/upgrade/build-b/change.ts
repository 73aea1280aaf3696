/** The change build B makes to retrainAndUpdate, named once for its workflow code and the test that judges it. */

/** Guards the step B adds at the start of a run: runs begun on build A replay past it without it. */
export const START_PATCH = 'upgrade-test-start-memo';
/** Guards the step B adds at the end of a run: a run begun on A and finished on B takes it. */
export const FINISH_PATCH = 'upgrade-test-finish-memo';
/** The memo B writes: which build started and which finished the run. */
export const BUILD_B = 'build-b';
