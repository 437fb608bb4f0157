from django.urls import path
from gallery import views

urlpatterns = [
    path("", views.index, name="index"),
    path("direct-upload/", views.direct_upload, name="direct-upload"),
]
