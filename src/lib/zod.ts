/**
 * The zod every module uses: the functional `zod/mini` API. Its schemas are built with fewer
 * intermediate clones than classic method chains (`.check(a, b, c)` is one schema, `.min().max()`
 * two), and the classic API is left out of the executable: start-up is shorter and idle RSS lower.
 * Import `z` from here, never from 'zod', which would bring the classic API back.
 *
 * Mini loads no locale by itself, so every issue message would read "Invalid input"; English (the
 * messages the 422 bodies carry) is registered here, before any schema can be used.
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

z.config(en());

export { z };
