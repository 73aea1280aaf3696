import { samplePipeline } from '../../client/commands/dev';
import { EXAMPLE_CONTAINER, examplePipeline } from './inputs';

// The tests run examples/adf; `retrain dev` writes its own copy from code. They must not drift apart.
describe('examples/adf', () => {
  test('when the sample pipeline is loaded from examples/, then it is the one `retrain dev` writes', () => {
    const trainedModelName = 'ADFV2Sample Model [trained model]';
    expect(examplePipeline('RetrainAndUpdate', { container: EXAMPLE_CONTAINER, trainedModelName })).toEqual(
      samplePipeline(trainedModelName),
    );
  });

  test('when an example is loaded for a test, then it names the test container and trained model only', () => {
    const text = JSON.stringify(
      examplePipeline('RetrainAndUpdateDemo', { container: 'c1', trainedModelName: 'M', name: 'Renamed' }),
    );
    expect(text).not.toContain(`${EXAMPLE_CONTAINER}/`);
    expect(text).toContain('"FilePath":"c1/output/newModelForArm.ilearner"');
    expect(text).toContain('"trainedModelName":"M"');
    expect(text).toContain('"name":"Renamed"');
  });
});
