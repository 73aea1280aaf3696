import { installQuietRuntime } from './temporal';

// Expected failures (the point of many tests) log at WARN in the SDK; keep the test output readable.
installQuietRuntime();
