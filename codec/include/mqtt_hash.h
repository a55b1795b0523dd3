/*
 * mqtt_hash.h - the one string hash of sluice: 32-bit FNV-1a over bytes.
 *
 * What it is for: hash tables keyed by MQTT strings (client ids, topic
 * names, topic levels). Not for anything a peer could attack through
 * collisions beyond what a bounded table tolerates: it has no seed.
 *
 * Ownership: reads n bytes of p, keeps nothing. Pure: any thread may call it.
 */
#ifndef SLUICE_MQTT_HASH_H
#define SLUICE_MQTT_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Inline: it sits on the subscription trie's lookup path. */
static inline uint32_t mqtt_fnv1a(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

#endif
