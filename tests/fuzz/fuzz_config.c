/* libFuzzer target: the INI configuration reader (config_load, SPEC §8):
 * each input is written to one temporary file, then loaded as a config
 * that must exist. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static int fd = -1;

static void remove_file(void)
{
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config *c = NULL;
    struct err e = {0};

    if (fd < 0) {
        const char *tmp = getenv("TMPDIR");

        snprintf(path, sizeof path, "%s/fuzz-config-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
        fd = mkstemp(path);
        if (fd < 0)
            abort();
        atexit(remove_file);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    if (config_load(path, 1, &c, &e) == 0)
        config_free(c);
    return 0;
}
