# bash completion for privmem (dist/bash-completion/privmem)
.PHONY: completiontest
completiontest: $(O)/privmem
	./tests/completion/run.sh
CHECK_STAGES += completiontest
