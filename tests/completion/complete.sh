#!/bin/bash
# complete.sh FILE LINE: what bash offers for LINE (the cursor at its end)
# with the completion FILE loaded, one candidate a line, sorted. Drives the
# function `complete -p` names as bash does: COMP_WORDS, COMP_CWORD,
# COMP_LINE, COMP_POINT, then COMPREPLY. Exit 8: no completion registered.
exec bash --norc --noprofile -i -c '
	source "$1" || exit 9
	read -ra COMP_WORDS <<<"$2"
	[[ $2 == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE=$2
	COMP_POINT=${#2}
	spec=$(complete -p "${COMP_WORDS[0]}" 2>/dev/null) || exit 8
	[[ $spec =~ -F\ ([^ ]+) ]] || exit 8
	"${BASH_REMATCH[1]}" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf "%s\n" "${COMPREPLY[@]}" | sed "/^$/d" | LC_ALL=C sort
' _ "$1" "$2" 2>/dev/null
