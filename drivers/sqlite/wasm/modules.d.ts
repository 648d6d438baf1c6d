/** A .wasm file imported as a module: workerd (and wrangler) hand over the compiled module. */
declare module '*.wasm' {
  const wasmModule: WebAssembly.Module;
  export default wasmModule;
}

/** Vite's `?url` import: the URL the file is served from. */
declare module '*.wasm?url' {
  const url: string;
  export default url;
}
