# bash completion for provision: commands, options, and from the inventory
# (-i FILE, $PROVISION_INVENTORY or ./inventory.yml) its layouts, hosts,
# roles and environments, as 'provision __complete WHAT' lists them.

_provision_words()
{
	local inv=() i
	for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
		case ${COMP_WORDS[i]} in
		-i | --inventory) inv=(-i "${COMP_WORDS[i + 1]}") ;;
		--inventory=*) inv=(-i "${COMP_WORDS[i]#--inventory=}") ;;
		esac
	done
	"${COMP_WORDS[0]}" "${inv[@]}" __complete "$1" 2>/dev/null
}

_provision()
{
	local cur prev cmd="" i
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-i | --inventory | -e | --env) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]} && break ;;
		esac
	done
	case $prev in
	-i | --inventory | -o)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	-e | --env)
		COMPREPLY=($(compgen -W "$(_provision_words environments)" -- "$cur"))
		return
		;;
	--hosts | --host | --to | --on)
		COMPREPLY=($(compgen -W "$(_provision_words hosts)" -- "$cur"))
		return
		;;
	--roles)
		COMPREPLY=($(compgen -W "$(_provision_words roles)" -- "$cur"))
		return
		;;
	-l | --layout)
		COMPREPLY=($(compgen -W "$(_provision_words layouts)" -- "$cur"))
		return
		;;
	esac
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "-i --inventory -e --env --json --plain --help" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_provision_words commands)" -- "$cur"))
		fi
		return
	fi
	case $cmd in
	plan | up | apply | status | audit | destroy | kamal-config | switchover | validate | ui)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--hosts --roles --check --diff --jobs --frozen --timings --only --detailed-exitcode --yes --force --to --lynis" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_provision_words layouts)" -- "$cur"))
		fi
		;;
	ssh | share | unshare)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--layout --with --multi-use --list --acl --apply" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_provision_words hosts)" -- "$cur"))
		fi
		;;
	backup)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--host --at --yes --type --on --repo --path" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "now list restore verify files $(_provision_words layouts)" -- "$cur"))
		fi
		;;
	snapshot)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--host" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "create list $(_provision_words layouts)" -- "$cur"))
		fi
		;;
	diff)
		COMPREPLY=($(compgen -W "$(_provision_words layouts) --exit-code" -- "$cur"))
		;;
	logs)
		# LAYOUT, then HOST; -u, -S and -n take a value
		local n=0 j
		for ((j = i + 1; j < COMP_CWORD; j++)); do
			case ${COMP_WORDS[j]} in
			-u | --unit | -S | --since | -n | --lines) ((j++)) ;;
			-*) ;;
			*) ((n++)) ;;
			esac
		done
		case $prev in
		-u | --unit | -S | --since | -n | --lines) return ;;
		esac
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--unit --since --lines" -- "$cur"))
		elif ((n == 0)); then
			COMPREPLY=($(compgen -W "$(_provision_words layouts)" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_provision_words hosts)" -- "$cur"))
		fi
		;;
	esac
}
complete -F _provision provision
