/**
 * Topics under jas/v1/<fleet>/ (MQTT 3.1.1):
 *   cmd              QoS 1, operators publish envelopes
 *   plan             retained: {v, ride, envelopes} of the current ride, for devices that connect later
 *   status/<device>  retained, every few s and after each accepted command (FleetStatusMessage)
 *   online/<device>  retained "1", last will "0"
 */

export const TOPIC_ROOT = 'jas/v1';

export function topics(fleet: string) {
  const base = `${TOPIC_ROOT}/${fleet}`;
  return {
    cmd: `${base}/cmd`,
    plan: `${base}/plan`,
    status: (device: string) => `${base}/status/${device}`,
    online: (device: string) => `${base}/online/${device}`,
    statusAll: `${base}/status/+`,
    onlineAll: `${base}/online/+`,
    /** The device a status/online topic is about. */
    deviceOf: (topic: string) => topic.slice(topic.lastIndexOf('/') + 1),
  };
}

/** The retained plan: the valid envelopes of a ride. */
export interface PlanMessage {
  v: 1;
  ride: string;
  envelopes: string[];
}

/** What a device reports (retained, every few s). */
export interface FleetStatusMessage {
  v: 1;
  device: string;
  fleet: string;
  /** The ride this device is on (what new commands should name); absent before its clock knows. */
  ride?: string;
  /** UTC ns (decimal) by the device's clock when this was sent. */
  utcNs: string;
  clock: { state: string; source: string; errorBoundUs: number | null };
  simulated: boolean;
  playback?: {
    state: string;
    track?: number;
    tracks?: number;
    positionSec?: number;
    syncErrorUs?: number;
    gainDb?: number;
    muted?: boolean;
  };
  /** The session's plan digest, when it gives one. */
  planDigest?: string;
  commands: {
    /** Digest of the accepted command set of the ride: the same set gives the same digest everywhere. */
    digest: string;
    count: number;
    pending: number;
    /** The latest accepted commands (what `fleet ... --wait` looks for), newest last. */
    recent: Array<{ id: string; op: string; at: string; lateMs?: number }>;
    rejected: Record<string, number>;
    duplicates: number;
  };
}
