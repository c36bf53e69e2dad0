#!/usr/bin/env bash
# Usage: bash launch/fetch-data.sh [DIR]
#
# Downloads the two corpora the shipped configs name into DIR (default: data/ of this
# checkout), once: a file that is already there is kept.
#   tinyshakespeare.txt  Karpathy's Tiny Shakespeare (char-rnn), 1.1 MB, 65 characters
#   berkshire.txt        Warren Buffett's letters to Berkshire Hathaway shareholders,
#                        1977-1997 (the years published as HTML), tags stripped
# Needs curl (or wget) and a network connection; without one it stops at the first download
# with a one-line reason (exit 1). Training never downloads anything itself.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$here/data}
mkdir -p "$dir"

fetch() {  # fetch URL FILE
    local said
    if command -v curl >/dev/null 2>&1; then
        said=$(curl -fsSL --retry 3 --connect-timeout 20 -A "Mozilla/5.0 (rnn-dist fetch-data)" -o "$2" "$1" 2>&1) \
            || failed "$1" "${said##*$'\n'}"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -T 20 -t 3 -U "Mozilla/5.0 (rnn-dist fetch-data)" -O "$2" "$1" || failed "$1" "no network?"
    else
        echo "fetch-data: needs curl or wget (apt-get install -y curl)" >&2
        exit 1
    fi
}

failed() {  # failed URL REASON: one line that says why, then what to do instead
    echo "fetch-data: could not download $1 ($2)" >&2
    echo "Any UTF-8 text works as a corpus:" >&2
    echo "  put it at $dir/tinyshakespeare.txt or $dir/berkshire.txt, or train with --set data.path=FILE" >&2
    exit 1
}

shakespeare=$dir/tinyshakespeare.txt
if [ -s "$shakespeare" ]; then
    echo "fetch-data: $shakespeare already present"
else
    fetch https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt "$shakespeare.part"
    mv "$shakespeare.part" "$shakespeare"
    echo "fetch-data: wrote $shakespeare ($(wc -c < "$shakespeare") bytes)"
fi

berkshire=$dir/berkshire.txt
if [ -s "$berkshire" ]; then
    echo "fetch-data: $berkshire already present"
else
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    for year in $(seq 1977 1997); do
        fetch "https://www.berkshirehathaway.com/letters/$year.html" "$tmp/$year.html"
        # Drop tags and entities, keep the text; the letters are plain ASCII prose.
        sed -e 's/<[^>]*>//g' -e 's/&nbsp;/ /g' -e 's/&amp;/\&/g' -e 's/&quot;/"/g' \
            -e "s/&#39;/'/g" -e 's/&[a-z]*;//g' -e 's/\r//g' "$tmp/$year.html" \
            | iconv -f latin1 -t utf-8 >> "$tmp/berkshire.txt"
    done
    mv "$tmp/berkshire.txt" "$berkshire"
    echo "fetch-data: wrote $berkshire ($(wc -c < "$berkshire") bytes)"
fi
