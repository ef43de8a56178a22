/*
 * sl_notify.c: sd_notify(3) messages for systemd's Type=notify.
 *
 * READY=1 goes out once the AMQP, MQTT and HTTP listeners are bound (so
 * `systemctl start` returns when clients can connect, and units ordered
 * After=sluiced.service start then); STOPPING=1 when a SIGTERM starts
 * the graceful close; RELOADING=1 then READY=1 around a SIGHUP. The
 * messages are best effort: a failure to reach the socket is not the
 * broker's problem, so results are ignored. MAINPID is sent with READY
 * so systemd tracks this process even if started through a wrapper.
 */
#include "sl_notify.h"

#include <stdio.h>
#include <unistd.h>

#ifdef SLUICE_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

void
sl_notify_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s\nMAINPID=%ld", status ? status : "running",
		   (long)getpid());
}

void
sl_notify_reloading(void)
{
	sd_notify(0, "RELOADING=1\nSTATUS=reloading");
}

void
sl_notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=closing connections and stopping");
}

#else

void
sl_notify_ready(const char *status)
{
	(void)status;
}

void
sl_notify_reloading(void)
{
}

void
sl_notify_stopping(void)
{
}

#endif
