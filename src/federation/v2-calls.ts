import type { PartnerCall } from './partner-call';
import { trimBase } from './partner-call';

/** The uuru-fed/2 calls (base `<base_url>/federation/v2`). */

const v2Base = (partnerUrl: string): string => `${trimBase(partnerUrl)}/federation/v2`;
const seg = encodeURIComponent;

export interface Iax2Endpoint {
  host: string;
  port: number;
}

export function v2PeeringRequest(
  partnerUrl: string,
  body: {
    request_id: string;
    name: string;
    codec: string;
    extension_length: number;
    base_url: string;
    iax2: Iax2Endpoint;
    agreement_kid: string;
    secret_epoch_seconds?: number;
  },
): PartnerCall {
  return { dialect: 'v2', method: 'POST', url: `${v2Base(partnerUrl)}/peering-requests`, body: { ...body } };
}

export function v2Revoke(partnerUrl: string, requestId: string): PartnerCall {
  return {
    dialect: 'v2',
    method: 'DELETE',
    url: `${v2Base(partnerUrl)}/peering-requests/${seg(requestId)}`,
    body: null,
  };
}

export function v2Accept(
  partnerUrl: string,
  requestId: string,
  body: {
    extension_length: number;
    iax2: Iax2Endpoint;
    agreement_kid: string;
    secret_epoch_seconds?: number;
  },
): PartnerCall {
  return {
    dialect: 'v2',
    method: 'POST',
    url: `${v2Base(partnerUrl)}/peering-requests/${seg(requestId)}/accept`,
    body: { ...body, iax2: { ...body.iax2 } },
  };
}

export function v2Decline(partnerUrl: string, requestId: string, reason?: string): PartnerCall {
  return {
    dialect: 'v2',
    method: 'POST',
    url: `${v2Base(partnerUrl)}/peering-requests/${seg(requestId)}/decline`,
    body: reason === undefined ? {} : { reason },
  };
}

export function v2Teardown(partnerUrl: string, name: string, requestId: string): PartnerCall {
  return {
    dialect: 'v2',
    method: 'POST',
    url: `${v2Base(partnerUrl)}/peers/${seg(name)}/teardown`,
    body: { request_id: requestId },
  };
}

export function v2SecretRotation(
  partnerUrl: string,
  name: string,
  body: { request_id: string; epoch_offset: number; at: string },
): PartnerCall {
  return {
    dialect: 'v2',
    method: 'POST',
    url: `${v2Base(partnerUrl)}/peers/${seg(name)}/secret-rotation`,
    body: { ...body },
  };
}

export function v2PeeringState(partnerUrl: string, requestId: string): PartnerCall {
  return {
    dialect: 'v2',
    method: 'GET',
    url: `${v2Base(partnerUrl)}/peerings/${seg(requestId)}`,
    body: null,
  };
}

export function v2Phonebook(partnerUrl: string): PartnerCall {
  return { dialect: 'v2', method: 'GET', url: `${v2Base(partnerUrl)}/phonebook`, body: null };
}
