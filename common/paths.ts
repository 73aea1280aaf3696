/**
 * Blob paths in ADF definitions (`filePath`, `trainedModelFilePath`) are relative to the linked service's storage
 * account: `container/folder/file.ext`. Anything that could point elsewhere is refused before a run, and again by the
 * activities for paths computed by expressions, so a path can never send a request, or a key, to another host.
 */

/** Control characters and invisible format characters that make two names look alike or break logs and URLs. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point.
const HIDDEN_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]/;

/** Why `name` (a definition's name or key) is unusable because of a hidden character, or undefined. */
export function hiddenCharacterProblem(name: string): string | undefined {
  const m = HIDDEN_CHARACTERS.exec(name);
  if (!m) return undefined;
  const code = m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
  const label: Record<string, string> = {
    '0000': 'NUL',
    '0009': 'TAB',
    '000A': 'newline',
    '000D': 'carriage return',
    '200B': 'zero-width space',
    FEFF: 'byte-order mark',
  };
  return `contains the invisible character U+${code}${label[code] ? ` (${label[code]})` : ''} at position ${m.index + 1}`;
}

/** Why `filePath` is not a container-relative blob path, or undefined when it is one. */
export function filePathProblem(filePath: string): string | undefined {
  const hidden = hiddenCharacterProblem(filePath);
  if (hidden) return hidden;
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(filePath)) {
    return 'is a URL or has a scheme; give a path relative to the storage account: container/folder/file.ext';
  }
  if (filePath.startsWith('//') || filePath.startsWith('\\\\')) {
    return 'starts with // (a host); give a path relative to the storage account: container/folder/file.ext';
  }
  if (filePath.includes('\\')) return "contains '\\'; blob paths use '/'";
  const segments = filePath.replace(/^\/+/, '').split('/');
  if (segments.some((s) => s === '..' || s === '.')) {
    return "contains a '.' or '..' segment; blob paths are literal, give the path without them";
  }
  if (segments.slice(0, -1).some((s) => s === '')) return "contains an empty segment ('//')";
  return undefined;
}
