/**
 * Environment the e2e helpers need before testcontainers loads. Imported first, for its side effect:
 * ESM hoists imports, so setting the variable in the importing module's body would come too late.
 */

// The Ryuk reaper image cannot be pulled here (no registry); our helpers remove their containers themselves.
process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';

// Test hosts publish SSH on 127.0.0.1 only. Left to itself, testcontainers takes the bridge network's gateway for
// the Docker host when it finds /.dockerenv (or tries to pull an image to find it), and then waits in vain for the
// published port there.
process.env.TESTCONTAINERS_HOST_OVERRIDE = '127.0.0.1';
