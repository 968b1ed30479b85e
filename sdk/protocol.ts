/**
 * `spectra-edge/protocol`: for services that receive cubes rather than fuse them. The cube protocol v2 over
 * MQTT (docs/cube-protocol.md): topics, the meta and chunk codec, reassembly, shared-subscription routing (pull delivery and the claim rule),
 * the subscriber, the status payload and the errors they raise. Loads neither onnxruntime nor the capture code.
 */
export {
  CHUNK_CONTENT_TYPE,
  CHUNK_HEADER_BYTES,
  CUBE_PROTOCOL,
  type CubeChunk,
  type CubeMessageMeta,
  type CubeTopic,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_DECODE_LIMITS,
  type DecodeLimits,
  META_CONTENT_TYPE,
  MQTT_MAX_PACKET,
  assertDeviceId,
  chunkTopic,
  decodeChunk,
  decodeMeta,
  encodeChunk,
  encodeMeta,
  metaTopic,
  parseCubeTopic,
  publishPacketBytes,
  quicklookTopic,
  spectraTopic,
  statusTopic,
  ACCEPTED_PROTOCOLS,
  type ControlMessage,
  type CubeReceipt,
  type LossNotice,
  MAX_SEQUENCES_PER_MESSAGE,
  type ResendRequest,
  decodeControl,
  lostTopic,
  receiptTopic,
  resendTopic,
  type CubeOffer,
  type PullRequest,
  directTopic,
  offerTopic,
  parseDirectTopic,
  pullTopic,
} from './publish/protocol';
export { DEFAULT_REASSEMBLER_OPTIONS, type ReassembledCube, Reassembler, type ReassemblerOptions, type ReassemblerStats, type ReassemblyEvent } from './publish/reassembler';
export { type RouteResult, type RoutedMessage, ShareRouter, type ShareRouterOptions, type ShareRouterStats } from './publish/share-router';
export {
  CubeSubscriber,
  DEFAULT_SUBSCRIBER_OPTIONS,
  type MissingReason,
  type ReceivedCube,
  type SubscriberEvents,
  type SubscriberOptions,
  type WrittenFiles,
  defaultSubscriberClientId,
} from './publish/subscriber';
export type { BrokerOptions, TlsOptions } from './publish/broker-connection';
export { STATUS_SCHEMA, type JetsonReadings, type StatusPayload } from './pipeline/status';
export type { Cube, CubeMeta } from './cube/cube';
export { type ErrorCode, ERROR_CODES, SpectraError } from './core/errors';
export { BrokerConnectionError, CubeIntegrityError, CubeProtocolError, IncompleteCubeError, ReassemblyLimitError } from './publish/errors';
export { type Logger, type LogLevel } from './core/log';
