/*
 * amqp_status.c: the one table from core outcomes (enum bk_status) to AMQP
 * 0-9-1 reply codes, and reply codes to the names RabbitMQ puts in front
 * of reply texts ("NOT_FOUND - no queue 'q' in vhost '/'").
 *
 * Which codes are hard (close the connection) follows the spec's constant
 * classes [AMQP 0-9-1 §1.2]: "soft-error" codes close the channel,
 * "hard-error" ones the connection.
 */
#include "amqp_int.h"

uint16_t
amqp_status_code(enum bk_status st)
{
	switch (st) {
	case BK_OK:                  return AMQP_REPLY_SUCCESS;
	case BK_NOT_FOUND:           return AMQP_NOT_FOUND;
	case BK_ACCESS_REFUSED:      return AMQP_ACCESS_REFUSED;
	case BK_RESOURCE_LOCKED:     return AMQP_RESOURCE_LOCKED;
	case BK_PRECONDITION_FAILED: return AMQP_PRECONDITION_FAILED;
	case BK_NOT_ALLOWED:         return AMQP_NOT_ALLOWED;
	case BK_COMMAND_INVALID:     return AMQP_COMMAND_INVALID;
	case BK_NOT_IMPLEMENTED:     return AMQP_NOT_IMPLEMENTED;
	case BK_RESOURCE_ERROR:      return AMQP_RESOURCE_ERROR;
	case BK_INTERNAL_ERROR:      return AMQP_INTERNAL_ERROR;
	}
	return AMQP_INTERNAL_ERROR;
}

const char *
amqp_code_name(uint16_t code)
{
	switch (code) {
	case AMQP_REPLY_SUCCESS:       return "REPLY_SUCCESS";
	case AMQP_CONTENT_TOO_LARGE:   return "CONTENT_TOO_LARGE";
	case AMQP_NO_ROUTE:            return "NO_ROUTE";
	case AMQP_NO_CONSUMERS:        return "NO_CONSUMERS";
	case AMQP_CONNECTION_FORCED:   return "CONNECTION_FORCED";
	case AMQP_INVALID_PATH:        return "INVALID_PATH";
	case AMQP_ACCESS_REFUSED:      return "ACCESS_REFUSED";
	case AMQP_NOT_FOUND:           return "NOT_FOUND";
	case AMQP_RESOURCE_LOCKED:     return "RESOURCE_LOCKED";
	case AMQP_PRECONDITION_FAILED: return "PRECONDITION_FAILED";
	case AMQP_FRAME_ERROR:         return "FRAME_ERROR";
	case AMQP_SYNTAX_ERROR:        return "SYNTAX_ERROR";
	case AMQP_COMMAND_INVALID:     return "COMMAND_INVALID";
	case AMQP_CHANNEL_ERROR:       return "CHANNEL_ERROR";
	case AMQP_UNEXPECTED_FRAME:    return "UNEXPECTED_FRAME";
	case AMQP_RESOURCE_ERROR:      return "RESOURCE_ERROR";
	case AMQP_NOT_ALLOWED:         return "NOT_ALLOWED";
	case AMQP_NOT_IMPLEMENTED:     return "NOT_IMPLEMENTED";
	case AMQP_INTERNAL_ERROR:      return "INTERNAL_ERROR";
	}
	return "INTERNAL_ERROR";
}

bool
amqp_code_is_hard(uint16_t code)
{
	return code == AMQP_CONNECTION_FORCED || code == AMQP_INVALID_PATH ||
	       code >= 500;
}
