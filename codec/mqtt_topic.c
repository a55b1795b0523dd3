/* mqtt_topic.c - being written */
