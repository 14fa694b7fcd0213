import { Elysia } from 'elysia';
import { GatewayStatusResponse, HealthResponse } from './model';
import { gatewayStatus, health, type GatewayDeps } from './service';

export function gatewayPlugin(deps: GatewayDeps) {
  return new Elysia({ name: 'gateway' })
    .get('/health', () => health(deps), {
      response: { 200: HealthResponse },
      detail: { tags: ['gateway'], summary: 'Liveness, upstream connection and capabilities (no auth)' },
    })
    .get('/api/gateway-status', () => gatewayStatus(deps), {
      response: { 200: GatewayStatusResponse },
      detail: { tags: ['gateway'], summary: 'Upstream mode, model, versions and feature flags (no auth)' },
    });
}
