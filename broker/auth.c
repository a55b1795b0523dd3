/*
 * auth.c - MQTT 5 enhanced authentication: where methods plug in.
 *
 * A method is a name and a step function. CONNECT with an Authentication
 * Method looks the method up here; no method is built in yet, so every
 * request is answered CONNACK 0x8C (bad authentication method) and an AUTH
 * packet without a method in progress is a protocol error. A method added
 * to `methods` gets CONNECT's authentication data as its first step and
 * each AUTH 0x18 (continue) after it.
 */
#include <string.h>

#include "conn.h"

static const brk_auth_method_t *const methods[] = {NULL};

const brk_auth_method_t *brk_auth_find(const mqtt_str_t *name)
{
    for (size_t i = 0; methods[i]; i++)
        if (strlen(methods[i]->name) == name->len && !memcmp(methods[i]->name, name->p, name->len))
            return methods[i];
    return NULL;
}
