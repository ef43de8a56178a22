/*
 * mqtt_status.c: the one table from core outcomes (enum bk_status) to
 * MQTT 5 reason codes, and from v5 CONNACK reasons to the v3 return
 * codes [MQTT 3.1.1 §3.2.2.3] (which know only six outcomes).
 */
#include "mqtt_int.h"

uint8_t
mqtt_status_rc(enum bk_status st)
{
	switch (st) {
	case BK_OK:                  return MQTT_RC_SUCCESS;
	case BK_ACCESS_REFUSED:      return MQTT_RC_NOT_AUTHORIZED;
	case BK_RESOURCE_LOCKED:     return MQTT_RC_NOT_AUTHORIZED;
	case BK_NOT_FOUND:           return MQTT_RC_IMPL_SPECIFIC;
	case BK_PRECONDITION_FAILED: return MQTT_RC_IMPL_SPECIFIC;
	case BK_NOT_ALLOWED:         return MQTT_RC_NOT_AUTHORIZED;
	case BK_COMMAND_INVALID:     return MQTT_RC_PROTOCOL_ERROR;
	case BK_NOT_IMPLEMENTED:     return MQTT_RC_IMPL_SPECIFIC;
	case BK_RESOURCE_ERROR:      return MQTT_RC_QUOTA_EXCEEDED;
	case BK_INTERNAL_ERROR:      return MQTT_RC_UNSPECIFIED;
	}
	return MQTT_RC_UNSPECIFIED;
}

uint8_t
mqtt_connack_v3(uint8_t rc5)
{
	switch (rc5) {
	case MQTT_RC_SUCCESS:             return MQTT_V3_ACCEPTED;
	case MQTT_RC_UNSUPPORTED_VERSION: return MQTT_V3_BAD_PROTOCOL;
	case MQTT_RC_CLIENT_ID_INVALID:   return MQTT_V3_ID_REJECTED;
	case MQTT_RC_BAD_USER_OR_PASS:    return MQTT_V3_BAD_USER_OR_PASS;
	case MQTT_RC_NOT_AUTHORIZED:
	case MQTT_RC_QUOTA_EXCEEDED:      /* a connection limit, as RabbitMQ says it */
	case MQTT_RC_BANNED:              return MQTT_V3_NOT_AUTHORIZED;
	default:                          return MQTT_V3_SERVER_UNAVAILABLE;
	}
}
