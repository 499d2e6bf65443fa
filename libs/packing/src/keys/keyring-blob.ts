/** Where a container keeps its wrapped keys (docs/format.md). */
export const KEYRING_BLOB = 'ferry/keyring';
