/*
 * sl_notify.h: telling the service manager how the daemon is doing
 * (systemd's sd_notify protocol, through libsystemd), for units of
 * Type=notify. Built without libsystemd (meson -Dsystemd=disabled) every
 * call is a no-op; outside systemd (no NOTIFY_SOCKET) libsystemd makes
 * them no-ops too.
 */
#ifndef SLUICE_SL_NOTIFY_H
#define SLUICE_SL_NOTIFY_H

/* Every listener is up and accepting: "READY=1" with a STATUS line. */
void sl_notify_ready(const char *status);
/* A reload began ("RELOADING=1"); sl_notify_ready() ends it. */
void sl_notify_reloading(void);
/* Shutdown began ("STOPPING=1"). */
void sl_notify_stopping(void);

#endif
