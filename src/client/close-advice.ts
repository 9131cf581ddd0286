// What a close code tells a client to do (protocol.md, Close codes): reconnect and resume, get a
// fresh token first, or stop. Unknown codes are judged by their range.
import { CloseCode } from '../protocol/codes.ts';

export const CloseAdvice = {
  reconnect: 'reconnect',
  refreshToken: 'refresh-token',
  stop: 'stop',
} as const;
export type CloseAdvice = (typeof CloseAdvice)[keyof typeof CloseAdvice];

export function closeAdvice(code: number): CloseAdvice {
  if (code === CloseCode.tokenExpired) return CloseAdvice.refreshToken;
  if (code === CloseCode.policyViolation || code === CloseCode.tooLarge) return CloseAdvice.stop;
  if (code >= 4500 && code <= 4999) return CloseAdvice.stop;
  return CloseAdvice.reconnect;
}
