/* mqtt_encode.c - being written */
