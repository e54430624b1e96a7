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
  | 'ERR_OUTPUT_MODE'
  | 'ERR_CONCURRENT_READ'
  | 'ERR_BATCH_FORMAT'
  | 'ERR_SINK_CONNECT'
  | 'ERR_SINK_STREAM'
  | 'ERR_SINK_PUBLISH'
  | 'ERR_LIBPCAP_MISSING'
  | 'ABORT_ERR';

/** An error of tcpsensor's, with a stable code to tell the cases apart (as Node's own errors have). */
export class TcpsensorError extends Error {
  /** What went wrong, for programs: see {@link ErrorCode}. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TcpsensorError';
    this.code = code;
  }
}

/** Re-types an error thrown by the addon (an Error carrying `code`). */
export function fromNative(err: unknown): Error {
  if (err instanceof TcpsensorError) return err;
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

/** Codes of the warnings a sensor raises (see TcpsensorWarning). */
export type WarningCode = 'TCPSENSOR_CHECKSUM_OFFLOAD';

/** What a checksum-offload warning found. */
export interface ChecksumOffloadDetail {
  /** Network time when it was found. */
  networkTime: number;
  /** Packets received by then. */
  packets: number;
  /** Of those, packets with a bad IP header checksum. */
  badIpChecksums: number;
  /** Packets with a bad TCP checksum. */
  badTcpChecksums: number;
  /** Packets with a bad UDP checksum (tunnels). */
  badUdpChecksums: number;
  /** True when `checksums: 'auto'` turned validation off. */
  validationDisabled: boolean;
}

/**
 * A condition of the capture as a whole that the user should hear about,
 * raised once. A sensor emits it as its 'warning' event; with no listener,
 * it goes to process.emitWarning() (Node prints it on stderr).
 */
export class TcpsensorWarning extends Error {
  /** Which warning it is: see {@link WarningCode}. */
  readonly code: WarningCode;
  /** What the warning is based on. */
  readonly detail: ChecksumOffloadDetail;

  constructor(code: WarningCode, message: string, detail: ChecksumOffloadDetail) {
    super(message);
    this.name = 'TcpsensorWarning';
    this.code = code;
    this.detail = detail;
  }
}

/** Zeek's checksum-offloading warning, in its words where they fit. */
export function checksumOffloadWarning(detail: ChecksumOffloadDetail, live: boolean): TcpsensorWarning {
  const which = [
    detail.badIpChecksums > 0 ? 'IP' : '',
    detail.badTcpChecksums > 0 ? 'TCP' : '',
    detail.badUdpChecksums > 0 ? 'UDP' : '',
  ].filter(Boolean).join(' and ');
  const bad = detail.badIpChecksums + detail.badTcpChecksums + detail.badUdpChecksums;
  const where = live ? 'interface is likely receiving' : 'trace file likely has';
  const action = detail.validationDisabled
    ? "checksums: 'auto' has turned checksum validation off for the rest of this capture."
    : 'By default, packets with invalid checksums are discarded unless checksums are ignored (tcpsensor -C, or the ignoreChecksums option).';
  const message =
    `Your ${where} invalid ${which} checksums (${bad} of ${detail.packets} packets), most likely from NIC checksum offloading. ` +
    `${action} Alternatively, disable checksum offloading by the network adapter (e.g. ethtool -K IFACE rx off tx off) so that the checksums analysed are those transmitted.`;
  return new TcpsensorWarning('TCPSENSOR_CHECKSUM_OFFLOAD', message, detail);
}
