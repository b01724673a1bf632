/**
 * Turns off onnxruntime's telemetry. onnxruntime-node 1.30 on Linux and macOS, when it creates its
 * environment (the first InferenceSession.create), writes a device id and an event database (model
 * graph and producer names) to ~/.cache/Microsoft/DeveloperTools/.onnxruntime/ ($XDG_CACHE_HOME
 * if set) and about 10 s later sends them to mobile.events.data.microsoft.com. Its JS API has no
 * option for this (neither `env` nor the session options); the native library reads
 * ORT_DISABLE_TELEMETRY, so it is set here, in a module onnx.ts imports before 'onnxruntime-node'.
 * An operator's explicit ORT_DISABLE_TELEMETRY=0 is kept (an opt-in).
 *
 * A worker thread's process.env is a copy the native library never sees: code that loads models
 * only in a worker must have the variable set in the main thread or the environment.
 */
process.env.ORT_DISABLE_TELEMETRY ||= '1';
