import type { PartnerCall } from './partner-call';
import { trimBase } from './partner-call';

/**
 * The calls stock µURU makes, shaped exactly as it sends them: its pydantic
 * models serialised with exclude_unset (requests) or exclude_unset and
 * exclude_none (status updates), so optional fields are absent, never null.
 */

const v1Base = (partnerUrl: string): string => `${trimBase(partnerUrl)}/api/v1`;

export function v1CreateIncomingRequest(
  partnerUrl: string,
  p: {
    id: string;
    name: string;
    ownUrl: string;
    ownIaxHost: string;
    ownExtensionLength: number;
    secret: string;
    codec: string;
  },
): PartnerCall {
  return {
    dialect: 'v1',
    method: 'POST',
    url: `${v1Base(partnerUrl)}/federation/incoming/request`,
    body: {
      id: p.id,
      name: p.name,
      partner_uuru_host: p.ownUrl,
      partner_iax_host: p.ownIaxHost,
      partner_extension_length: p.ownExtensionLength,
      secret: p.secret,
      codec: p.codec,
    },
  };
}

export function v1RevokeIncomingRequest(partnerUrl: string, id: string, secret: string): PartnerCall {
  const q = new URLSearchParams({ secret }).toString();
  return {
    dialect: 'v1',
    method: 'DELETE',
    url: `${v1Base(partnerUrl)}/federation/incoming/request/${encodeURIComponent(id)}?${q}`,
    body: null,
  };
}

export function v1AcceptOutgoingRequest(
  partnerUrl: string,
  id: string,
  p: { secret: string; ownExtensionLength: number; ownIaxHost: string; ownUrl: string },
): PartnerCall {
  return {
    dialect: 'v1',
    method: 'PUT',
    url: `${v1Base(partnerUrl)}/federation/outgoing/request/${encodeURIComponent(id)}`,
    body: {
      accept: true,
      secret: p.secret,
      extension_length: p.ownExtensionLength,
      partner_iax_host: p.ownIaxHost,
      partner_uuru_host: p.ownUrl,
    },
  };
}

export function v1DeclineOutgoingRequest(partnerUrl: string, id: string, secret: string): PartnerCall {
  return {
    dialect: 'v1',
    method: 'PUT',
    url: `${v1Base(partnerUrl)}/federation/outgoing/request/${encodeURIComponent(id)}`,
    body: { accept: false, secret },
  };
}

export function v1Teardown(partnerUrl: string, name: string, secret: string): PartnerCall {
  return {
    dialect: 'v1',
    method: 'POST',
    url: `${v1Base(partnerUrl)}/federation/peer/teardown`,
    body: { name, secret },
  };
}

export function v1Phonebook(partnerUrl: string): PartnerCall {
  return { dialect: 'v1', method: 'GET', url: `${v1Base(partnerUrl)}/extension/phonebook`, body: null };
}
