// Base64 to bytes without Node's Buffer (browsers too): how the generated modules embed their wasm binaries.

/** Decode base64 (atob) into a fresh Uint8Array. */
export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}
