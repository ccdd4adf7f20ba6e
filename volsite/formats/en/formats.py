"""Date formats of the admin (English locale): times to the second, in ISO order, so that
consecutive rows of a list never look identical (issue #22). The zone is stated once per
page (templates/admin/change_list.html), not on every row."""

DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
