/* mqtt_props.c - being written */
