// Unknown-field check for Kubernetes manifests, by the TypeScript compiler.
//
// kubernetes-models' validate() checks types and required fields against the OpenAPI
// schema but accepts any unknown key, so a misspelt `readOnlyRootFileSystem: true` would
// pass it and be silently dropped by the API server (kubeconform -strict would catch it;
// it is not obtainable here). The same package ships TypeScript interfaces for every
// object: assigning each manifest as an object literal to its interface makes tsc's
// excess-property check report every unknown key, at any depth, with its path.
import { dirname, join } from 'node:path';
import ts from 'typescript';

export interface TypedDocument {
  /** Where the document came from, for the messages. */
  readonly label: string;
  /** Module and exported interface, e.g. `kubernetes-models/apps/v1` and `IDeployment`. */
  readonly module: string;
  readonly type: string;
  readonly value: unknown;
}

/**
 * Type-checks the documents and returns tsc's messages (empty: every key is known and
 * every value has the declared type). `root` is the folder whose node_modules holds
 * kubernetes-models.
 */
export function kubernetesTypeErrors(root: string, docs: readonly TypedDocument[]): string[] {
  // A virtual file inside the repository, so NodeNext resolution finds node_modules and
  // the package.json `"type": "module"` above it.
  const file = join(root, 'test/unit/deploy/__manifests_typecheck__.ts');
  const lines: string[] = [];
  docs.forEach((doc, i) => {
    lines.push(`import type { ${doc.type} as T${i} } from ${JSON.stringify(doc.module)};`);
  });
  docs.forEach((doc, i) => {
    lines.push(`// ${doc.label}`);
    lines.push(`export const d${i}: T${i} = ${JSON.stringify(doc.value, null, 2)};`);
  });
  const text = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options, true);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (name, languageVersion, ...rest) =>
    name === file ? ts.createSourceFile(name, text, languageVersion, true) : getSourceFile(name, languageVersion, ...rest);
  host.fileExists = (name) => name === file || fileExists(name);
  host.readFile = (name) => (name === file ? text : readFile(name));
  host.getCurrentDirectory = () => dirname(file);
  const program = ts.createProgram({ rootNames: [file], options, host });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file?.fileName !== file || d.start === undefined) return message;
    // Name the document the error is in: the nearest `// label` line above it.
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    const above = text.split('\n').slice(0, line + 1).reverse().find((l) => l.startsWith('// '));
    return `${above?.slice(3) ?? '?'}: line ${line + 1}: ${message}`;
  });
}
