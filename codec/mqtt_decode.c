/* mqtt_decode.c - being written */
