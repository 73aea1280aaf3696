import type { EmulatorContext } from '../context';

/** The resource definition of the seeded ARM scoring service (shape of SPEC17's getWebService example + REC17). */
export function seedArmProperties(emu: EmulatorContext, runtimeId: string, modelUrl: string, trainedModelName: string) {
  const now = new Date(emu.now()).toISOString();
  const sub = emu.state.identity.subscriptionId;
  const column = (type: string, format?: string) => (format ? { type, format } : { type });
  return {
    title: 'ADFV2Sample [Predictive Exp.]',
    description: 'Scoring web service updated with models retrained by the training web service.',
    createdOn: now,
    modifiedOn: now,
    provisioningState: 'Succeeded',
    readOnly: false,
    swaggerLocation: `${emu.baseUrl}/subscriptions/${sub.replace(/-/g, '')}/services/${runtimeId}/swagger.json`,
    exposeSampleData: false,
    realtimeConfiguration: { maxConcurrentCalls: 4 },
    diagnostics: { level: 'None' },
    storageAccount: { name: emu.storage.accountName, key: emu.storage.accountKey },
    machineLearningWorkspace: { id: emu.state.identity.workspaceId },
    commitmentPlan: {
      id: `/subscriptions/${sub}/resourceGroups/${emu.state.identity.resourceGroup}/providers/Microsoft.MachineLearning/commitmentPlans/defaultCommitmentPlan`,
    },
    input: {
      title: '',
      description: '',
      type: 'object',
      properties: {
        input1: {
          type: 'object',
          properties: { age: column('Integer', 'Int32'), income: column('Number', 'Double'), label: column('String') },
        },
      },
    },
    output: {
      title: '',
      description: '',
      type: 'object',
      properties: {
        output1: {
          type: 'object',
          properties: { 'Scored Labels': column('String'), 'Scored Probabilities': column('Number', 'Double') },
        },
      },
    },
    exampleRequest: { inputs: { input1: [['42', '51000', '1']] }, globalParameters: {} },
    assets: {
      asset1: {
        name: 'Score Model',
        type: 'Module',
        locationInfo: { uri: 'aml://module/401b4f92e7244d5aa0bd5ebd73e4b5bb', credentials: '' },
      },
      asset2: {
        name: 'Select Columns in Dataset',
        type: 'Module',
        locationInfo: { uri: 'aml://module/506153734175476c4f62416c57734963', credentials: '' },
      },
      asset3: {
        name: trainedModelName,
        type: 'Resource',
        locationInfo: { uri: modelUrl },
        outputPorts: { 'Results dataset': { type: 'Dataset' } },
      },
    },
    parameters: {},
    payloadsInBlobStorage: false,
    packageType: 'Graph',
    package: {
      nodes: {
        node1: { inputId: 'input1' },
        node2: {
          assetId: 'asset2',
          parameters: {
            'Column Selection': { value: '{"isFilter":true,"rules":[{"ruleType":"AllColumns","exclude":false}]}' },
          },
        },
        node3: { assetId: 'asset3' },
        node4: { assetId: 'asset1', parameters: { 'Append score columns to output': { value: 'True' } } },
        node5: { outputId: 'output1' },
      },
      edges: [
        { sourceNodeId: 'node1', sourcePortId: 'output', targetNodeId: 'node2', targetPortId: 'Dataset' },
        { sourceNodeId: 'node2', sourcePortId: 'Results dataset', targetNodeId: 'node4', targetPortId: 'Dataset' },
        {
          sourceNodeId: 'node3',
          sourcePortId: 'Results dataset',
          targetNodeId: 'node4',
          targetPortId: 'Trained model',
        },
        { sourceNodeId: 'node4', sourcePortId: 'Scored dataset', targetNodeId: 'node5', targetPortId: 'input' },
      ],
      graphParameters: {},
    },
  };
}
