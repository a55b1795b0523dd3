/* mqtt_utf8.c - being written */
