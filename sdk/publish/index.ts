/** Publish: the cube protocol over MQTT (publisher, outbox, subscriber) and the embedded broker. */
export * from './errors';
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
} from './protocol';
export { type CubeHeader, type UnhashedHeader, FileOutbox, type FileOutboxOptions, MemoryOutbox, type OutboxEntry, type OutboxStore, type PutResult } from './outbox';
export type { BrokerOptions, TlsOptions } from './broker-connection';
export {
  CubePublisher,
  DEFAULT_PUBLISHER_OPTIONS,
  type PublishInfo,
  type PublisherEvents,
  type PublisherMetrics,
  type PublisherOptions,
  type SampledSpectra,
  sampleSpectra,
} from './publisher';
export { EmbeddedBroker, type EmbeddedBrokerOptions } from './embedded-broker';
export { DEFAULT_PIPELINE_OPTIONS, type FrameReport, type PipelineOptions, type PipelineResult, findDefaultModel, formatReport, runPipeline } from '../pipeline/pipeline';
export { DEFAULT_REASSEMBLER_OPTIONS, type ReassembledCube, Reassembler, type ReassemblerOptions, type ReassemblerStats, type ReassemblyEvent } from './reassembler';
export { ShareRouter, type RouteResult, type RoutedMessage, type ShareRouterOptions } from './share-router';
export { CubeSubscriber, type ReceivedCube, type SubscriberEvents, type SubscriberOptions, type WrittenFiles } from './subscriber';
export { DEFAULT_MAIN_JOB_OPTIONS, type MainJobOptions, type MainJobResult, type ReceiveSummary, runMainJob } from '../pipeline/main-job';
