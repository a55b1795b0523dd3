/*
 * fuzz_config.c - the config loader on arbitrary bytes: it must return an
 * error or a cfg_t, never crash or leak, and every error must be one
 * NUL-terminated line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    cfg_t *cfg = NULL;
    int rc = cfg_parse("fuzz.json", (const char *)data, size, &cfg, err, sizeof(err));
    if (rc == CFG_OK) {
        cfg_free(cfg);
    } else if (cfg != NULL || !memchr(err, '\0', sizeof(err)) || strchr(err, '\n')) {
        abort();
    }
    return 0;
}
