/**
 * Errors with a stable `code`, as Node's own errors have. Native failures
 * (opening a capture, a bad filter, reading a file) arrive with their code
 * from the addon; option errors are TypeError / RangeError raised here.
 */
export type ErrorCode =
  | 'ERR_PCAP_OPEN'
  | 'ERR_PCAP_FORMAT'
  | 'ERR_PCAP_TRUNCATED'
  | 'ERR_PCAP_READ'
  | 'ERR_PCAP_LINKTYPE'
  | 'ERR_PCAP_NO_DEVICE'
  | 'ERR_PCAP_PERMISSION'
  | 'ERR_PCAP_INTERFACE_DOWN'
  | 'ERR_BPF'
  | 'ERR_CONTENTS_FILE'
  | 'ERR_CLOSED'
  | 'ERR_ALREADY_ITERATING'
  | 'ERR_CONCURRENT_READ'
  | 'ERR_BATCH_FORMAT'
  | 'ABORT_ERR';

export class TcpsensorError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TcpsensorError';
    this.code = code;
  }
}

/** Re-types an error thrown by the addon (an Error carrying `code`). */
export function fromNative(err: unknown): Error {
  if (err instanceof Error && typeof (err as { code?: unknown }).code === 'string') {
    return new TcpsensorError((err as unknown as { code: ErrorCode }).code, err.message);
  }
  return err instanceof Error ? err : new Error(String(err));
}

export function abortError(reason?: unknown): TcpsensorError {
  const e = new TcpsensorError('ABORT_ERR', 'The operation was aborted', { cause: reason });
  e.name = 'AbortError';
  return e;
}
