import os

from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

REPORT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "files", "report.txt"
)


def plain(request):
    return HttpResponse("django plain\n", content_type="text/plain")


@csrf_exempt
def form(request):
    return JsonResponse({"method": request.method, "form": dict(request.POST.lists())})


def protected(request):
    # No csrf_exempt: a POST without a CSRF token is refused by CsrfViewMiddleware.
    return HttpResponse("accepted\n", content_type="text/plain")


@csrf_exempt
def upload(request):
    uploaded = request.FILES["file"]
    data = uploaded.read()
    return JsonResponse(
        {
            "name": uploaded.name,
            "size": len(data),
            "content_type": uploaded.content_type,
            "fields": request.POST.dict(),
        }
    )


def stream(request):
    return StreamingHttpResponse(
        ("row %d\n" % i for i in range(4)), content_type="text/plain"
    )


def report(request):
    return FileResponse(open(REPORT, "rb"), content_type="text/plain")


def where(request):
    return JsonResponse(
        {
            "script_name": request.META["SCRIPT_NAME"],
            "path": request.path,
            "path_info": request.path_info,
            "absolute": request.build_absolute_uri(),
            "reverse": reverse("plain"),
            "secure": request.is_secure(),
        }
    )


def cookie(request):
    response = HttpResponse(status=204)
    response.set_cookie("seen", "1")
    return response


def cafe(request):
    return JsonResponse({"path": request.path})


def boom(request):
    raise RuntimeError("django view failed")
