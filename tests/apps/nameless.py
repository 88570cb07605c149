"""An app module whose author forgot the callable: it defines neither `application` nor `app`."""

GREETING = "hello"
