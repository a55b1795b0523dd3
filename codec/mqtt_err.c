/* mqtt_err.c - being written */
