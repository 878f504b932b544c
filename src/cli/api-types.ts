import type { z } from 'zod';
import type * as S from '../http/admin/api-schemas';
import type { doctorReportView } from '../http/admin/doctor-route';

/**
 * The admin API's answers as the CLI reads them: the types of the schemas the
 * server parses every response through (src/http/admin/api-schemas.ts), so a
 * field the API adds, renames or drops shows up here at compile time.
 */

export type PeerView = z.infer<typeof S.peerView>;
export type OutgoingRequestView = z.infer<typeof S.outgoingRequestView>;
export type IncomingRequestView = z.infer<typeof S.incomingRequestView>;
export type KeyView = z.infer<typeof S.keyView>;
export type Policy = z.infer<typeof S.policySchema>;
export type PolicyChangeReport = z.infer<typeof S.policyChangeReport>;
export type TestCallResponse = z.infer<typeof S.testCallResponse>;
export type ReconcileResponse = z.infer<typeof S.reconcileResponse>;
export type PartnerPhonebookView = z.infer<typeof S.partnerPhonebookView>;
export type DeliveryView = z.infer<typeof S.deliveryView>;
export type PartnerHealthView = z.infer<typeof S.partnerHealthView>;
export type PurgeQueueResponse = z.infer<typeof S.purgeQueueResponse>;
export type RetryDeliveriesResponse = z.infer<typeof S.retryDeliveriesResponse>;
export type StatusResponse = z.infer<typeof S.statusResponse>;
export type ApiTokenView = z.infer<typeof S.apiTokenView>;
export type AdminUserView = z.infer<typeof S.adminUserView>;
export type AsteriskConfigView = z.infer<typeof S.asteriskConfigView>;
export type DoctorReportView = z.infer<typeof doctorReportView>;
