/* libFuzzer target: the asset-freeze register reader (src/registry): the
 * Trésor's JSON (input starting with '{') or the CSV form, then a match of
 * a contact against what was read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct registry r;
    struct err e = {0};
    const char *which = NULL;
    char *text = malloc(size + 1);

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    memset(&r, 0, sizeof r);
    if (registry_parse("fuzz.json", text, size, &r, &e) == 0) {
        (void)registry_match(&r, "Jean", "Dupont", "ACME", &which);
        if (r.n > 0)
            (void)registry_match(&r, NULL, r.v[0].name, NULL, &which);
        registry_free(&r);
    }
    free(text);
    return 0;
}
