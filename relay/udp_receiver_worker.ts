/**
 * Entry point of the Worker that reads one UDP listener's socket; see
 * {@linkcode import("./udp_receiver.ts").startUdpReceiver}. Started by the
 * listener, never imported.
 *
 * @module
 */

import { type ReceiverScope, serveReceiver } from "./udp_receiver.ts";

serveReceiver(self as unknown as ReceiverScope);
