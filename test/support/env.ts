/**
 * Environment the e2e helpers need before testcontainers loads. Imported first, for its side effect:
 * ESM hoists imports, so setting the variable in the importing module's body would come too late.
 */

// The Ryuk reaper image cannot be pulled here (no registry); our helpers remove their containers themselves.
process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
