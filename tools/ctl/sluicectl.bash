# bash completion for sluicectl (installed as
# share/bash-completion/completions/sluicectl).
#
# Command names come from `sluicectl help`, so they never go stale; vhost
# (-p/--vhost) and queue names are asked from the broker the command line
# points at, with a short timeout and silently nothing when it is not there.

_sluicectl_conn_args()
{
	# the connection options already typed, to reach the same broker
	local i w
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		--host|--port|--user|-u|--password|--cacert|--ssl-ca-cert-file|--cert|\
		--ssl-cert-file|--key|--ssl-key-file|--path-prefix)
			printf '%s\n%s\n' "$w" "${COMP_WORDS[i + 1]}" ;;
		--ssl|--insecure|--ssl-disable-hostname-verification)
			printf '%s\n' "$w" ;;
		esac
	done
}

_sluicectl_ask()
{
	# _sluicectl_ask <command> [args]: one name per line, or nothing
	local prog=${COMP_WORDS[0]} args
	mapfile -t args < <(_sluicectl_conn_args)
	"$prog" "${args[@]}" --timeout 2 -s "$@" 2>/dev/null
}

_sluicectl_names()
{
	# COMPREPLY from the names on stdin, one per line (names may hold spaces)
	local IFS=$'\n' list
	list=$(cat)
	mapfile -t COMPREPLY < <(compgen -W "$list" -- "$cur")
}

_sluicectl_vhost()
{
	local i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-p|--vhost) printf '%s' "${COMP_WORDS[i + 1]}"; return ;;
		esac
	done
	printf '/'
}

_sluicectl()
{
	local cur prev cmd i words
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}

	case $prev in
	--formatter)
		mapfile -t COMPREPLY < <(compgen -W "table pretty_table json" -- "$cur"); return ;;
	--apply-to)
		mapfile -t COMPREPLY < <(compgen -W "all queues classic_queues quorum_queues streams exchanges" -- "$cur"); return ;;
	--unit)
		mapfile -t COMPREPLY < <(compgen -W "days weeks months years" -- "$cur"); return ;;
	--destination-type)
		mapfile -t COMPREPLY < <(compgen -W "queue exchange" -- "$cur"); return ;;
	--ackmode)
		mapfile -t COMPREPLY < <(compgen -W "ack_requeue_true ack_requeue_false reject_requeue_true reject_requeue_false" -- "$cur"); return ;;
	--cacert|--ssl-ca-cert-file|--cert|--ssl-cert-file|--key|--ssl-key-file)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
	-p|--vhost)
		_sluicectl_names < <(_sluicectl_ask list_vhosts name); return ;;
	--host|--port|--user|-u|--password|--timeout|-t|--priority|--within|\
	--path-prefix|--node|-n|--arguments|--properties)
		return ;;
	esac

	# the command: the first word that is neither an option nor its value
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--host|--port|--user|-u|--password|--timeout|-t|--priority|--within|\
		--path-prefix|--node|-n|--arguments|--properties|--formatter|--apply-to|\
		--unit|--destination-type|--ackmode|--cacert|--ssl-ca-cert-file|--cert|\
		--ssl-cert-file|--key|--ssl-key-file|-p|--vhost)
			((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done

	if [[ $cur == -* ]]; then
		words="--host --port --user --password --vhost --formatter --quiet --silent
		       --timeout --no-table-headers --ssl --cacert --cert --key --insecure
		       --ssl-disable-hostname-verification --path-prefix --node --help"
		case $cmd in
		set_policy|set_operator_policy) words+=" --priority --apply-to" ;;
		check_certificate_expiration) words+=" --within --unit" ;;
		declare_queue) words+=" --durable --auto-delete --arguments" ;;
		declare_exchange) words+=" --durable --auto-delete --internal --arguments" ;;
		delete_queue) words+=" --if-empty --if-unused" ;;
		delete_exchange) words+=" --if-unused" ;;
		list_user_limits|list_vhost_limits) words+=" --global" ;;
		esac
		mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
		return
	fi
	if [[ -z $cmd ]]; then
		words=$("${COMP_WORDS[0]}" help 2>/dev/null |
			awk '/^Commands:/ { on = 1; next } on && /^   [a-z]/ { print $1 }')
		mapfile -t COMPREPLY < <(compgen -W "$words help version" -- "$cur")
		return
	fi
	case $cmd in
	help)
		words=$("${COMP_WORDS[0]}" help 2>/dev/null |
			awk '/^Commands:/ { on = 1; next } on && /^   [a-z]/ { print $1 }')
		mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur") ;;
	delete_queue|purge_queue|get)
		_sluicectl_names < <(_sluicectl_ask -p "$(_sluicectl_vhost)" list_queues name) ;;
	delete_user|change_password|set_user_tags|set_permissions|clear_permissions|\
	list_user_permissions|set_topic_permissions|clear_topic_permissions|\
	list_user_topic_permissions|set_user_limits|clear_user_limits|list_user_limits)
		_sluicectl_names < <(_sluicectl_ask list_users name) ;;
	delete_vhost)
		_sluicectl_names < <(_sluicectl_ask list_vhosts name) ;;
	clear_policy)
		_sluicectl_names < <(_sluicectl_ask -p "$(_sluicectl_vhost)" list_policies | cut -f2) ;;
	clear_operator_policy)
		_sluicectl_names < <(_sluicectl_ask -p "$(_sluicectl_vhost)" list_operator_policies | cut -f2) ;;
	esac
}

complete -F _sluicectl sluicectl
