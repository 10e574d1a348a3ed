{# format: plain #}
# Written by provision (role backup): which backups backup_keep does not
# keep, from pgBackRest's info JSON of one repository, newest first.
#   jq -r --argjson daily D --argjson weekly W --argjson monthly M -f backup-keep.jq
# Kept: for each of the last D days (UTC) on which a backup finished, the
# newest backup of that day; for each of the last W ISO weeks in which a
# full backup finished, the newest full of that week; for each of the last
# M months in which a full finished, the newest full of that month; and
# every backup a kept one depends on (a differential's full).

# the labels of the newest item of each of the $n newest periods (f) in list
def newest_per($list; f; $n):
  reduce $list[] as $b ({seen: [], keep: []};
    ($b | f) as $k
    | if (.seen | length) >= $n or any(.seen[]; . == $k) then .
      else .seen += [$k] | .keep += [$b.label]
      end)
  | .keep;

def day: .timestamp.stop | strftime("%Y-%m-%d");
def week: .timestamp.stop | strftime("%G-W%V");
def month: .timestamp.stop | strftime("%Y-%m");

(.[0].backup // [] | sort_by(.timestamp.stop) | reverse) as $all
| [$all[] | select(.type == "full")] as $fulls
| (newest_per($all; day; $daily) + newest_per($fulls; week; $weekly)
   + newest_per($fulls; month; $monthly)) as $picked
| ($picked + [$all[] | .label as $l | select(any($picked[]; . == $l)) | (.reference // [])[]]) as $keep
| $all[] | .label as $l | select(any($keep[]; . == $l) | not) | $l
