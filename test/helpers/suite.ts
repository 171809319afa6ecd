import { describe } from 'vitest';
import { skipIntegration } from './dovecot.js';

/**
 * describe() for tests that need a real Dovecot: reported as skipped when
 * POPLIFT_SKIP_INTEGRATION=1, otherwise run (and failing with the install
 * hint when Dovecot is missing).
 */
export const describeIntegration = describe.skipIf(skipIntegration());
